// The browser section's stopwatch (benchmarks/served.py): clicks the element, resolves with the ms until drawn:
// {page} for a translation; for a step {page, panel} and {picture} when the page has a bmm picture.
async ({selector, index, kind, timeout}) => {
  const el = sel => document.querySelector(sel);
  const state = () => {
    const map = el('#heatmap .bmm-hm-map') || el('#heatmap'), picture = el('#bmm-picture .bmm-pic');
    return {map: map ? map.innerText : '', panel: el('#bmm-panel')?.innerText ?? '',
            checked: [...document.querySelectorAll('#heatmap .bmm-hm-step')].findIndex(r => r.ariaChecked === 'true'),
            text: el('#translation textarea')?.value ?? '', picture: picture ? picture.dataset.step : null};
  };
  const before = state(), times = {}, since = () => performance.now() - start;
  let start = 0;
  const done = s => {  // a translation: a new heatmap and a filled box; a step: the heatmap, panel and picture on it
    if (kind === 'translate') { if (s.text && s.map && s.map !== before.map) times.page = since(); }
    else {
      if (times.page === undefined && s.checked === index) times.page = since();
      if (times.panel === undefined && s.panel !== before.panel) times.panel = since();
      if (times.picture === undefined && s.picture === String(index)) times.picture = since();
    }
    const pictured = before.picture === null || times.picture !== undefined;
    return times.page !== undefined && (kind === 'translate' || (times.panel !== undefined && pictured));
  };
  return await new Promise((resolve, reject) => {
    const finish = () => { observer.disconnect(); clearTimeout(timer); clearInterval(poll); };
    const check = () => { if (done(state())) { finish(); resolve(times); } };
    const observer = new MutationObserver(check);
    observer.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
    const poll = setInterval(check, 5);  // the text box's value changes without a DOM mutation
    const fail = () => { finish(); reject(new Error(kind + ' not drawn within ' + timeout + ' ms')); };
    const timer = setTimeout(fail, timeout);
    start = performance.now();
    document.querySelectorAll(selector)[index].click();
  });
}
