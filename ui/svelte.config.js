// Svelte compiler options (defaults; runes mode is on in Svelte 5 components)
export default {};
