// %% [markdown]
//
// <div style="text-align:center; font-size:200%;">
//   <b>Types in TypeScript</b>
// </div>
// <br/>
// <div style="text-align:center;">Ada Lovelace</div>
// <br/>


// %% [markdown]
// ## Heading

// %%
const answer: number = 42;

// %%
