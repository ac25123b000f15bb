// j2 from 'macros.j2' import header
// {{ header("Hallo, Rust!", "Hello, Rust!") }}

// %% [markdown] lang="de" tags=["subslide"]
//
// ## Die erste Ausgabe

// %% [markdown] lang="en" tags=["subslide"]
//
// ## The first output

// %% tags=["keep"]
println!("Hello, Rust!");

// %% [markdown] lang="de"
//
// Der Wert des letzten Ausdrucks wird angezeigt:

// %% [markdown] lang="en"
//
// The value of the last expression is shown:

// %%
let answer: i32 = 6 * 7;
answer
