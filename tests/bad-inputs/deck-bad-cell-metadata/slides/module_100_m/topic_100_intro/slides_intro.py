# %% [markdown]
# Hi

# %% tags=["keep"
x = 1
