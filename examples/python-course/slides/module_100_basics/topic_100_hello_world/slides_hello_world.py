# j2 from 'macros.j2' import header
# {{ header("Hallo, Welt!", "Hello, World!") }}

# %% [markdown] lang="de" tags=["subslide"]
#
# ## Die erste Ausgabe
#
# `print()` schreibt Text auf die Konsole.

# %% [markdown] lang="en" tags=["subslide"]
#
# ## The first output
#
# `print()` writes text to the console.

# %% tags=["keep"]
print("Hello, World!")

# %% [markdown] lang="de"
#
# Python rechnet auch:

# %% [markdown] lang="en"
#
# Python computes, too:

# %%
6 * 7

# %% tags=["alt"]
answer = 6 * 7
print(f"The answer is {answer}")

# %% [markdown] lang="de" tags=["notes"]
#
# Hinweis: die letzte Zeile einer Zelle wird als Ergebnis angezeigt.

# %% [markdown] lang="en" tags=["notes"]
#
# Note: the last line of a cell is shown as its result.

# %% [markdown] lang="de"
#
# | Funktion | Zweck |
# |----------|-------|
# | `print()` | Text ausgeben |
# | `len()` | Länge bestimmen |

# %% [markdown] lang="en"
#
# | Function | Purpose |
# |----------|---------|
# | `print()` | write text |
# | `len()` | get a length |
