# %% [markdown]
# {% if is_notebook %}
# Hello
