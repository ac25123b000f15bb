# %% [markdown]
# # Today's tags

# %% [markdown]
# ## Workshop: add

# %%
def add(a, b):
    ...

# %% [markdown]
# Only for private documents.

# %% [markdown]
# <img src="img/diagram.png" alt="Diagram"/>

# %%

# %%

# %%

# %%

# %%
