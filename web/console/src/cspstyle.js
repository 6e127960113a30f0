// xterm.js makes <style> elements for its colours and cell sizes; under a
// strict Content-Security-Policy (style-src 'self') their text would be
// refused. build.mjs rewrites xterm's document.createElement("style") into
// globalThis.__posternStyleElement(document), which returns a hidden element
// whose textContent feeds a constructable style sheet adopted by the
// document (CSSOM, which the policy allows).

function styleElement(doc) {
  const el = doc.createElement('postern-style');
  el.hidden = true;
  const sheet = new CSSStyleSheet();
  let text = '';
  let adopted = false;
  const adopt = () => {
    if (!adopted) {
      doc.adoptedStyleSheets = [...doc.adoptedStyleSheets, sheet];
      adopted = true;
    }
  };
  Object.defineProperty(el, 'textContent', {
    get: () => text,
    set: (v) => {
      text = String(v ?? '');
      sheet.replaceSync(text);
      adopt();
    },
  });
  const remove = el.remove.bind(el);
  el.remove = () => {
    doc.adoptedStyleSheets = doc.adoptedStyleSheets.filter((s) => s !== sheet);
    adopted = false;
    remove();
  };
  return el;
}

globalThis.__posternStyleElement = styleElement;
