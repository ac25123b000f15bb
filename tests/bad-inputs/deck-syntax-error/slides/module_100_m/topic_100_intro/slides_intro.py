# %%
def broken(:
    pass
