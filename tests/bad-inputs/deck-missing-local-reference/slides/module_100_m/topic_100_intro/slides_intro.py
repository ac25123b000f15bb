# %% [markdown]
# ![Logo](img/logo.png)
# <img src="img/logoo.png" alt="Logo">
# [The data](data/sales.csv) and [the web](https://example.org)
