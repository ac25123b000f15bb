# %% tags=["kepp"]
x = 1
