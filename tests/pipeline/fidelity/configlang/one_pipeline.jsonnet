{
  kind: 'pipeline',
  name: 'only',
  steps: [{ name: 'only', image: 'runner-test/busybox', commands: ['echo one'] }],
}
