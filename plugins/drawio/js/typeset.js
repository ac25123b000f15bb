// Resolves once the page is ready to print: MathJax (when the page loads
// it) has typeset every formula, and the fonts in use have loaded.
(async () => {
  if (window.MathJax && window.MathJax.startup && window.MathJax.startup.promise) {
    await window.MathJax.startup.promise;
  }
  await document.fonts.ready;
  return true;
})()
