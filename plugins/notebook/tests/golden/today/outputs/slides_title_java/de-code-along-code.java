// -*- coding: utf-8 -*-
// %% [markdown]
//
// <div style="text-align:center; font-size:200%;">
//  <b>Ausnahmen in Java</b>
// </div>
// <br/>
// <div style="text-align:center;">Ada Lovelace</div>
// <br/>

// %% [markdown]
// ## Überschrift

// %%
int answer = 42;

// %%
