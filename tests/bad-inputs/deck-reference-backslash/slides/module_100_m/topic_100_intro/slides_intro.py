# %% [markdown]
# ![Logo](img\logo.png)
