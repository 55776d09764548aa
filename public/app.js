// What the page needs beyond htmx, in a file (not inline, no hx-on) so a strict CSP can forbid inline script and eval.
(function () {
  'use strict';

  var numberFormat = new Intl.NumberFormat('fr-FR');

  function field() {
    return document.getElementById('content');
  }

  // The live character count; the server has the last word (it counts characters, as this does, not UTF-16 units).
  function updateCount() {
    var textarea = field();
    var count = document.getElementById('content-count');
    if (!textarea || !count) return;
    var length = Array.from(textarea.value).length;
    var max = Number(count.getAttribute('data-max')) || 4000;
    count.textContent = numberFormat.format(length) + ' / ' + numberFormat.format(max) + ' caractères';
    count.classList.toggle('over', length > max);
  }

  function statusOf(event) {
    var ctx = event.detail && event.detail.ctx;
    return ctx && ctx.response ? ctx.response.status : 0;
  }

  document.addEventListener('input', function (event) {
    if (event.target === field()) updateCount();
  });

  document.addEventListener('htmx:after:request', function (event) {
    var form = document.getElementById('print-form');
    var textarea = field();
    if (!form || !textarea || event.target !== form) return;
    var status = statusOf(event);
    if (status === 201) {
      // Sent: an empty field, ready for the next message (and an input event so the count and preview follow).
      textarea.value = '';
      textarea.removeAttribute('aria-invalid');
      textarea.dispatchEvent(new Event('input', { bubbles: true }));
      textarea.focus();
    } else if (status >= 400) {
      // Refused: the text stays as typed; the field is marked and gets the focus back to fix it.
      textarea.setAttribute('aria-invalid', 'true');
      textarea.focus();
    }
  });

  // The job list stays as long as the one the server renders, however many jobs arrive live.
  document.addEventListener('htmx:after:swap', function () {
    var list = document.getElementById('job-list');
    if (!list) return;
    var limit = Number(list.getAttribute('data-limit')) || 20;
    while (list.children.length > limit) list.lastElementChild.remove();
  });

  // The header's "en direct" badge follows the Server-Sent Events connection.
  function setLive(state, text) {
    var live = document.getElementById('live');
    if (!live) return;
    live.setAttribute('data-state', state);
    var label = live.querySelector('.live-text');
    if (label) label.textContent = text;
  }
  document.addEventListener('htmx:sse:before:connection', function () {
    var live = document.getElementById('live');
    var state = live && live.getAttribute('data-state');
    if (state === 'on' || state === 'retry') setLive('retry', 'Reconnexion…');
  });
  document.addEventListener('htmx:sse:after:connection', function () {
    setLive('on', 'En direct');
  });
  document.addEventListener('htmx:sse:error', function () {
    setLive('retry', 'Reconnexion…');
  });
  document.addEventListener('htmx:sse:close', function () {
    setLive('off', 'Hors connexion : actualisez la page');
  });

  // Loaded at the end of <body>: the elements above are there.
  updateCount();
  setLive('connecting', 'Connexion…');
})();
