# %% [markdown]
# # Die Tags von heute

# %% [markdown]
# ## Workshop: add

# %%
def add(a, b):
    return a + b

# %% [markdown]
# Only for private documents.

# %% [markdown]
# <img src="img/diagram.png" alt="Diagram"/>

# %%
words = {"Haus": "house"}

# %%
1 / 0

# %%
input()

# %%
add(1, 2)

# %% [markdown]
# The solution, explained.

# %%
typo = 1
