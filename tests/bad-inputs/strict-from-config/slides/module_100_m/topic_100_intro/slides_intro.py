# %% [markdown] tags=["notse"]
# Hi
