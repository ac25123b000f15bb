# j2 from 'macros.j2' import header
# {{ header("Funktionen definieren", "Defining Functions") }}

# %% [markdown] lang="de"
#
# ## Eine Funktion
#
# <img src="img/call.png" alt="Aufruf">

# %% [markdown] lang="en"
#
# ## A function
#
# <img src="img/call.png" alt="Call">

# %% tags=["keep"]
def greet(name):
    return f"Hello, {name}!"


# %%
greet("Ada")

# %% [markdown] lang="de" tags=["notes"]
#
# `return` beendet die Funktion.

# %% [markdown] lang="en" tags=["notes"]
#
# `return` ends the function.
