// Once per page load: remember the globals render() wraps on every call, so
// each render starts from the originals, and load the sketch font.
(() => {
  window.__clxSaved = {
    addFont: Graph.addFont,
    createFontElement: Graph.createFontElement,
    doMathJaxRender: Editor.doMathJaxRender,
    onMathJaxDone: Editor.onMathJaxDone,
  };
  if (window.__clxFontCss) {
    const link = document.createElement('link');
    link.rel = 'stylesheet';
    link.href = window.__clxFontCss;
    document.head.appendChild(link);
  }
  return EditorUi.VERSION;
})()
