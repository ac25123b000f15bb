# %% [markdown]
# Übung
