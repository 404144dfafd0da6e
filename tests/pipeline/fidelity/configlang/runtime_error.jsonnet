local name = 'build';

{
  kind: 'pipeline',
  name: name,
  steps: error 'steps are missing',
}
