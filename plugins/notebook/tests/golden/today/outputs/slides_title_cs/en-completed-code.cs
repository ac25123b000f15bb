// %% [markdown]
//
// <div style="text-align:center; font-size:200%;">
//   <b>Properties in C#</b>
// </div>
// <br/>
// <div style="text-align:center;">Ada Lovelace</div>
// <br/>


// %% [markdown]
// ## Heading

// %%
using System;

// %%
Console.WriteLine(42);
