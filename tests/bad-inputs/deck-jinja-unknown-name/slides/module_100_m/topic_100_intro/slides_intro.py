# %% [markdown]
# Text

# %% [markdown]
# {{ sldie_header("x") }}
