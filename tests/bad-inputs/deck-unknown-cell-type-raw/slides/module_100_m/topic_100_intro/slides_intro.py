# %% [rwa]
# raw text
