# %% [markdown] lang="de"
# Hallo

# %% [markdown] lang="de"
# Noch mehr

# %% [markdown] lang="en"
# Hi

# %%
1 / 0
