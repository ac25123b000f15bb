# %% [markdown] lang="de" tags=["slide"]
# # Die Tags von heute

# %% [markdown] lang="en" tags=["slide"]
# # Today's tags

# %% [markdown] tags=["workshop"]
# ## Workshop: add

# %% tags=["start"]
def add(a, b):
    ...

# %% tags=["completed"]
def add(a, b):
    return a + b

# %% [markdown] tags=["voiceover"]
# Now we read this aloud.

# %% tags=["voiceover"]
narrated = True

# %% [markdown] tags=["private"]
# Only for private documents.

# %% [markdown] tags=["nodataurl"]
# <img src="img/diagram.png" alt="Diagram"/>

# %% tags=["allow-untranslated"]
words = {"Haus": "house"}

# %% tags=["raises-exception"]
1 / 0

# %% tags=["skip-execution"]
input()

# %% tags=["end-workshop"]
add(1, 2)

# %% [markdown] tags=["completed", "subslide"]
# The solution, explained.

# %% tags=["tpyo"]
typo = 1
