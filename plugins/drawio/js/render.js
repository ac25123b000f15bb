// One render on the reused page: restore the wrapped globals, destroy the
// previous graph (or the page's memory grows), render, wait for draw.io's
// own completion marker and return the diagram bounds.
(async (data) => {
  const s = window.__clxSaved;
  Graph.addFont = s.addFont;
  Graph.createFontElement = s.createFontElement;
  Editor.doMathJaxRender = s.doMathJaxRender;
  Editor.onMathJaxDone = s.onMathJaxDone;
  const old = document.getElementById('LoadingComplete');
  if (old) old.remove();
  if (window.__graph) { try { window.__graph.destroy(); } catch (e) {} window.__graph = null; }
  let pages = 1;
  try {
    const doc = mxUtils.parseXml(data.xml);
    pages = Math.max(1, doc.documentElement.getElementsByTagName('diagram').length);
  } catch (e) {}
  window.__graph = render(data);
  const started = Date.now();
  let el;
  while (!(el = document.getElementById('LoadingComplete'))) {
    if (Date.now() - started > 30000) throw new Error('draw.io did not finish rendering within 30 s');
    await new Promise(r => setTimeout(r, 5));
  }
  return JSON.stringify({ bounds: JSON.parse(el.getAttribute('bounds')), pages });
})
