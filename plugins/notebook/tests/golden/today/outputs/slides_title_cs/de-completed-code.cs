// -*- coding: utf-8 -*-
// %% [markdown]
//
// <div style="text-align:center; font-size:200%;">
//  <b>Eigenschaften in C#</b>
// </div>
// <br/>
// <div style="text-align:center;">Ada Lovelace</div>
// <br/>

// %% [markdown]
// ## Überschrift

// %%
using System;

// %%
Console.WriteLine(42);
