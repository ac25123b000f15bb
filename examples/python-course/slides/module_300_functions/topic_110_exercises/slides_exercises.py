# j2 from 'macros.j2' import header
# {{ header("Übungen: Funktionen", "Exercises: Functions") }}

# %% [markdown] lang="de"
#
# ## Übung
#
# Schreiben Sie `square(x)`.

# %% [markdown] lang="en"
#
# ## Exercise
#
# Write `square(x)`.

# %%
def square(x):
    return x * x


# %%
square(12)
