// Small touches the page needs beyond htmx, in a file (not inline) so a strict CSP can forbid inline script.
(function () {
  'use strict';
  function updateCount() {
    var field = document.getElementById('content');
    var count = document.getElementById('content-count');
    if (!field || !count) return;
    var length = Array.from(field.value).length;
    var max = Number(field.getAttribute('maxlength')) || 4000;
    count.textContent = length + ' / ' + max;
    count.classList.toggle('over', length > max);
  }
  document.addEventListener('input', function (event) {
    if (event.target && event.target.id === 'content') updateCount();
  });
  // After a successful send: clear the field and put the cursor back for the next message.
  document.addEventListener('htmx:after:request', function (event) {
    var form = document.getElementById('print-form');
    var ctx = event.detail && event.detail.ctx;
    var status = ctx && ctx.response && ctx.response.status;
    if (!form || event.target !== form || status !== 201) return;
    form.querySelector('textarea').value = '';
    updateCount();
    form.querySelector('textarea').focus();
  });
  document.addEventListener('DOMContentLoaded', updateCount);
})();
