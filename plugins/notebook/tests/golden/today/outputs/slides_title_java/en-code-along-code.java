// %% [markdown]
//
// <div style="text-align:center; font-size:200%;">
//   <b>Exceptions in Java</b>
// </div>
// <br/>
// <div style="text-align:center;">Ada Lovelace</div>
// <br/>


// %% [markdown]
// ## Heading

// %%
int answer = 42;

// %%
