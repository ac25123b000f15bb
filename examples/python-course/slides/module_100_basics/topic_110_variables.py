# j2 from 'macros.j2' import header
# {{ header("Variablen", "Variables") }}

# %% [markdown] lang="de"
#
# ## Namen für Werte
#
# <img src="img/box.png" alt="Eine Variable ist ein Name">

# %% [markdown] lang="en"
#
# ## Names for values
#
# <img src="img/box.png" alt="A variable is a name">

# %%
price = 3
count = 4

# %%
price * count

# %% [markdown] lang="de" tags=["answer"]
# Der Name verweist auf den Wert, er enthält ihn nicht.

# %% [markdown] lang="en" tags=["answer"]
# The name refers to the value, it does not contain it.
