// %% [markdown]
// Hello
