# %% [markdown]
# A deck that builds.

# %% [markdown]
# “Quoted” in cp1252.
