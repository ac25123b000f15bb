# j2 from 'macros.j2' import header
# {{ header("Listen [Teil 1]", "Lists [Part 1]") }}

# %% [markdown] lang="de"
#
# ## Listen
#
# <img src="img/list.png" alt="Eine Liste">

# %% [markdown] lang="en"
#
# ## Lists
#
# <img src="img/list.png" alt="A list">

# %%
import list_tools

numbers = [3, 1, 2]
list_tools.describe(numbers)

# %% tags=["start"]
sorted_numbers = ...

# %%
sorted_numbers = sorted(numbers)
sorted_numbers
