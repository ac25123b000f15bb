# %% [markdown]
# Hi

# %%
print("fine")

# %%
1 / 0
