# %% [markdown] lang="en"
# Hello
