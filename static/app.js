// keybill staff pages: small progressive enhancements. Every page works without this.

// The key page: the preview of tier, price and throttle follows the ticked boxes.
document.addEventListener('DOMContentLoaded', () => {
  const form = document.getElementById('permissions-form');
  if (!form) return;
  const slot = document.getElementById('preview-slot');
  const update = async () => {
    const names = [...form.querySelectorAll('input[name=permissions]:checked')].map((i) => i.value);
    const url = `/admin/keys/${form.dataset.key}/quote?permissions=${encodeURIComponent(names.join(','))}`;
    const answer = await fetch(url, { credentials: 'same-origin' });
    if (!answer.ok) return;
    const q = await answer.json();
    let box = document.getElementById('preview');
    if (!box) {
      box = document.createElement('div');
      box.id = 'preview';
      box.className = 'preview';
      slot.appendChild(box);
    }
    const addOns = q.add_ons.map(([name, price]) => `, add-on ${name} ${price}`).join('');
    box.textContent = `With ${q.permissions}: ${q.tier} at ${q.price} per location per month, ${q.throttle} remote${addOns}. Not saved yet.`;
  };
  form.addEventListener('change', (event) => {
    if (event.target.name === 'permissions') update();
  });
});
