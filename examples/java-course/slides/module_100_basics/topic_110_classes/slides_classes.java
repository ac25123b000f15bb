// -*- coding: utf-8 -*-
// %% [markdown] lang="de" tags=["slide"]
// j2 from 'macros.j2' import header
// {{ header("Klassen", "Classes") }}

// %% [markdown] lang="de" tags=["subslide"]
//
// ## Eine Klasse
//
// Eine Zelle deklariert die Klasse, die nächste benutzt sie.

// %% [markdown] lang="en" tags=["subslide"]
//
// ## A class
//
// One cell declares the class, the next one uses it.

// %% tags=["keep"]
class Point {
    private final int x;
    private final int y;

    Point(int x, int y) {
        this.x = x;
        this.y = y;
    }

    Point plus(Point other) {
        return new Point(x + other.x, y + other.y);
    }

    @Override
    public String toString() {
        return "Point(" + x + ", " + y + ")";
    }
}

// %%
Point p = new Point(1, 2).plus(new Point(3, 4));
System.out.println(p);

// %% [markdown] lang="de" tags=["notes"]
//
// `toString()` bestimmt, wie die Ausgabe aussieht.

// %% [markdown] lang="en" tags=["notes"]
//
// `toString()` decides what the output looks like.

// %% [markdown] lang="de"
//
// ## Dateien lesen
//
// Dateien neben dem Foliensatz lassen sich relativ lesen:

// %% [markdown] lang="en"
//
// ## Reading files
//
// Files next to the deck can be read by relative path:

// %%
import java.nio.file.Files;
import java.nio.file.Path;

List<String> primes = Files.readAllLines(Path.of("data/primes.txt"));
primes.stream().mapToInt(Integer::parseInt).sum()

// %% [markdown] lang="de"
//
// Ein Fehler zur Laufzeit:

// %% [markdown] lang="en"
//
// An error at run time:

// %% tags=["raises-exception"]
primes.get(10)
