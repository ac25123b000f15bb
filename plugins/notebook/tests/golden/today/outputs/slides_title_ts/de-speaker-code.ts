// -*- coding: utf-8 -*-
// %% [markdown]
//
// <div style="text-align:center; font-size:200%;">
//  <b>Typen in TypeScript</b>
// </div>
// <br/>
// <div style="text-align:center;">Ada Lovelace</div>
// <br/>

// %% [markdown]
// ## Überschrift

// %%
const answer: number = 42;

// %%
console.log(answer);
