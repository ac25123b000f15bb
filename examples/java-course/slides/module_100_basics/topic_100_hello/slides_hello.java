// -*- coding: utf-8 -*-
// %% [markdown] lang="de" tags=["slide"]
// j2 from 'macros.j2' import header
// {{ header("Hallo, Java!", "Hello, Java!") }}

// %% [markdown] lang="de" tags=["subslide"]
//
// ## Die erste Ausgabe
//
// `System.out.println()` schreibt eine Zeile auf die Konsole.

// %% [markdown] lang="en" tags=["subslide"]
//
// ## The first output
//
// `System.out.println()` writes a line to the console.

// %% tags=["keep"]
System.out.println("Hello, Java!");

// %% [markdown] lang="de" tags=["notes"]
//
// In der Shell braucht es keine Klasse mit `main`-Methode.

// %% [markdown] lang="en" tags=["notes"]
//
// The shell needs no class with a `main` method.

// %% [markdown] lang="de"
//
// Der Wert des letzten Ausdrucks wird angezeigt:

// %% [markdown] lang="en"
//
// The value of the last expression is shown:

// %%
int answer = 6 * 7;
answer

// %% tags=["alt"]
Math.multiplyExact(6, 7)

// %% tags=["del"]
System.out.println("Only for the authors: in no output.");

// %% [markdown] lang="de"
//
// ## Übung
//
// Begrüßen Sie Ada mit `String.format()`.

// %% [markdown] lang="en"
//
// ## Exercise
//
// Greet Ada with `String.format()`.

// %% tags=["start"]
String greeting = "...";
greeting

// %%
String greeting = String.format("Hello, %s!", "Ada");
greeting
