# %% [markdown]
# Extra
