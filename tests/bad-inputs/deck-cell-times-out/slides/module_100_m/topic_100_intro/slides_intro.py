# %% [markdown] lang="de"
# Hallo

# %% [markdown] lang="de"
# Noch mehr

# %% [markdown] lang="en"
# Hi

# %%
import time
time.sleep(30)
