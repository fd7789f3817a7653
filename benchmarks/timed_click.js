// The browser section's stopwatch, run in the page by Playwright (benchmarks/served.py): clicks the element and
// resolves with the milliseconds until the result is drawn ({page} for a translation; for a step, {page, panel}
// and {picture} when the page has a bmm picture: the heatmap marking the step, the server's panel, the picture).
async ({selector, index, kind, timeout}) => {
  const state = () => {
    const map = document.querySelector('#heatmap .bmm-hm-map') || document.querySelector('#heatmap');
    const radios = [...document.querySelectorAll('#heatmap .bmm-hm-step')];
    const panel = document.querySelector('#bmm-panel');
    const box = document.querySelector('#translation textarea');
    const picture = document.querySelector('#bmm-picture .bmm-pic');
    return {map: map ? map.innerText : '', checked: radios.findIndex(r => r.getAttribute('aria-checked') === 'true'),
            panel: panel ? panel.innerText : '', text: box ? box.value : '',
            picture: picture ? picture.dataset.step : null};
  };
  const before = state();
  const times = {};
  let start = 0;
  const done = s => {
    if (kind === 'translate') { if (s.text && s.map && s.map !== before.map) times.page = performance.now() - start; }
    else {
      if (times.page === undefined && s.checked === index) times.page = performance.now() - start;
      if (times.panel === undefined && s.panel !== before.panel) times.panel = performance.now() - start;
      if (times.picture === undefined && s.picture === String(index)) times.picture = performance.now() - start;
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
