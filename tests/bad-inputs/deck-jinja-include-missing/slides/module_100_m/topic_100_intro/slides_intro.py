# %% [markdown]
# {% include "common.py" %}
