// The desktop app's SVG export of the rendered graph (images embedded).
(async () => {
  const graph = window.__graph;
  let bg = graph.background;
  if (bg == mxConstants.NONE) bg = null;
  const svgRoot = graph.getSvg(bg, 1, 0, false, null, true, null, null, null);
  if (graph.shadowVisible) graph.addSvgShadow(svgRoot);
  await new Promise(r => new Editor().convertImages(svgRoot, r));
  return '<?xml version="1.0" encoding="UTF-8"?>\n' +
    '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n' +
    mxUtils.getXml(svgRoot);
})()
