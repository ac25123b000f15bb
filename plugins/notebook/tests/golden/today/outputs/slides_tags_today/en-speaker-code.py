# %% [markdown]
# # Today's tags

# %% [markdown]
# ## Workshop: add

# %%
def add(a, b):
    return a + b

# %% [markdown]
# <div style='background: #FFEEBA; color: black;'>
# Now we read this aloud.
# </div>

# %%
narrated = True

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
