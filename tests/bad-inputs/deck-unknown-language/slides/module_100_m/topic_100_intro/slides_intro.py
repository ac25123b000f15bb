# %% [markdown] lang="de"
# Hallo

# %% [markdown] lang="En"
# Hello
