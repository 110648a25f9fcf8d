// The browser terminal: xterm.js on the page's WebSocket. The candidate's
// view sends keys and its size; a read-only view only shows. A dropped
// connection reconnects to the same shell (its recent screen comes first);
// a close with a reason (the access was cut) is the end.
(function () {
  'use strict';
  var box = document.getElementById('terminal');
  var state = document.getElementById('etat-terminal');
  var writer = box.dataset.writer === 'oui';
  var term = new Terminal({ rendererType: 'dom', cursorBlink: writer, disableStdin: !writer, fontSize: 15 });
  term.open(box);
  Terminal.fit(term);
  var socket = null;
  var wait = 500;
  function send(message) {
    if (writer && socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
  }
  function connect() {
    var scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    var decoder = new TextDecoder('utf-8');
    socket = new WebSocket(scheme + location.host + box.dataset.stream);
    socket.binaryType = 'arraybuffer';
    socket.onopen = function () {
      wait = 500;
      term.reset();
      state.textContent = writer ? 'connecté' : 'connecté (lecture seule)';
      send({ resize: [term.cols, term.rows] });
      if (writer) term.focus();
    };
    socket.onmessage = function (m) {
      term.write(decoder.decode(new Uint8Array(m.data), { stream: true }));
    };
    socket.onclose = function (e) {
      if (e.reason) {
        state.textContent = e.reason;
        return;
      }
      state.textContent = 'connexion perdue, nouvel essai…';
      setTimeout(connect, wait);
      wait = Math.min(wait * 2, 5000);
    };
  }
  term.on('data', function (data) { send({ keys: data }); });
  window.addEventListener('resize', function () {
    Terminal.fit(term);
    send({ resize: [term.cols, term.rows] });
  });
  connect();
})();
