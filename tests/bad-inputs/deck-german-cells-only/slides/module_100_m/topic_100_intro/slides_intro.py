# %% [markdown] lang="de"
# Hallo

# %%
x = 1
