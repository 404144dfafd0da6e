// Drone's external variables: std.extVar("build.event"), std.extVar("repo.slug")...
local event = std.extVar('build.event');
local pipeline(name, commands) = {
  kind: 'pipeline',
  type: 'docker',
  name: name,
  steps: [{
    name: name,
    image: 'runner-test/busybox',
    commands: commands + ['echo commit ${DRONE_COMMIT_SHA:0:7} of ' + std.extVar('repo.name')],
  }],
};

[pipeline('test', ['echo testing %s on %s' % [std.extVar('repo.slug'), std.extVar('build.branch')]])]
+ (if event == 'tag' then [pipeline('release', ['echo releasing ' + std.extVar('build.ref')])] else [])
